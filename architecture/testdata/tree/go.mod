module example.com/productapi

go 1.26
