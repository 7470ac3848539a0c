"""What the tests and benchmarks need beside the platform, kept out of the installed
package: the production topology on one machine (a real PostgreSQL server, one gRPC code
server per domain, the daemon and the webserver, configured from `deploy/`), the freshness
measurement over it, and a private copy of a built mesh."""
