package app

// buildOption adjusts an application before build wires it (tests inject
// a span exporter this way).
type buildOption func(*application)
