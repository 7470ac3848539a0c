# The product code location: its own image and gRPC code server (port 4000).
#   docker build -f deploy/code_locations/product.Dockerfile -t gtm-mesh-product .
FROM gtm-mesh-base
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "domains.product.definitions", "--location-name", "product"]
