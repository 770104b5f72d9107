"""Read-only data the tools answer from besides the content library: warehouse KPIs and
campaign-scoped contacts."""
