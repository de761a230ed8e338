package app

// Option adjusts an App before New wires it (tests inject
// a span exporter this way).
type Option func(*App)
