"""What llmdeploy knows about the world: instance types, serving engines, images, prices.

Data lives in `catalog/data/*.yaml` (each figure with its source); these modules load it once
and answer lookups. Nothing here talks to AWS.
"""
