package sim

// Generate exports generate to the package's external tests (the schema's).
var Generate = generate
