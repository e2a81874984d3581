"""Stock and supply, shared by everything that moves goods (planning today, routing next).

* :mod:`~src.inventory.keys` — series ids (``SKU@location``) <-> ``location_id, sku``;
* :mod:`~src.inventory.stock` — the latest stock position per location x SKU from the canonical
  ``inventory`` table;
* :mod:`~src.inventory.supply` — supply terms (MOQ, case pack, lead time mean and sd): a terms
  file over the locations table over defaults, validated at the boundary.
"""
