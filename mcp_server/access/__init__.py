"""Who may call and over what: bearer tokens and client certificates, roles and campaign
scope, TLS serving, and the endpoint's HTTP rules (Host/Origin, methods)."""
