"""Route a day's online orders to fulfilment nodes, in batch (conf/routing; src/routing/batch.py).

python -m pipelines.route_orders                         # the seeded demo network (no files mapped)
python -m pipelines.route_orders routing.network.nodes.path=nodes.csv \
    routing.network.zones.path=zones.csv routing.orders.path=orders_today.csv
python -m pipelines.route_orders routing.network.zones.path=zones.csv \
    routing.orders.path=orders_today.csv   # nodes: the canonical locations (data.locations)

Writes the outputs ``routing_assignments`` (one row per order line: node, shipment, cost,
delivery; Parquet + CSV), ``routing_summary`` and the ``routing_snapshot`` POST /route serves
from, and ``<routing>/rejects.csv``.
"""

from pipelines.entry import entry_point
from src.routing.batch import route_orders

run, main = entry_point("route_orders", route_orders)

if __name__ == "__main__":
    main()
