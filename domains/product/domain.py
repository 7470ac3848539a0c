from platform_lib import Domain, Owner

PRODUCT = Domain(
    name="product",
    description="Product Analytics: how accounts use the product, feature by feature, and how healthy that usage is.",
    owner=Owner(team="product", role="Product Analytics Lead"),
    consumers=("customer_success", "product_marketing"),
)
