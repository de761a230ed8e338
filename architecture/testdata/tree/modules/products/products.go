package products
