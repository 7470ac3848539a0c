# The customer_success code location: its own image and gRPC code server (port 4000).
#   docker build -f deploy/code_locations/customer_success.Dockerfile -t gtm-mesh-customer-success .
FROM gtm-mesh-base
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "domains.customer_success.definitions", "--location-name", "customer_success"]
