package config

// TLS reports whether the service terminates TLS itself (both files set).
func (h HTTP) TLS() bool { return h.TLSCertFile != "" && h.TLSKeyFile != "" }

func (h HTTP) validateTLS() error {
	if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
		return &Error{Setting: "HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE (http.tls_cert_file/tls_key_file)", Problem: "set both (HTTPS) or neither (plain HTTP)"}
	}
	if h.TLS() && h.TLSReloadInterval <= 0 {
		return &Error{Setting: "http.tls_reload_interval", Problem: "must be positive"}
	}
	return nil
}
