# The revenue_operations code location: its own image and gRPC code server (port 4000).
#   docker build -f deploy/code_locations/revenue_operations.Dockerfile -t gtm-mesh-revenue-operations .
FROM gtm-mesh-base
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "domains.revenue_operations.definitions", "--location-name", "revenue_operations"]
