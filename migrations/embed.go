// Package migrations embeds every module's SQL migrations, laid out as
// <module>/<dialect>/NNNNNN_name.{up,down}.sql so a module's schema moves
// with it if it is split into its own service.
package migrations

import "embed"

// FS holds all migration files.
//
//go:embed */*/*.sql
var FS embed.FS

// Modules lists the modules with migrations, in the order they are applied.
// Modules own disjoint tables with no cross-module foreign keys, so the order
// only matters for readability.
var Modules = []string{"events", "audit", "flags", "users", "products", "orders"}
