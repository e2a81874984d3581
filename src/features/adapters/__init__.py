"""Adapters: each turns one kind of raw source into inputs of the canonical ingest.

* ``online_retail`` — UCI Online Retail and Online Retail II (both column spellings);
* ``generic`` — any CSV/Parquet transactions export, mapped by config alone;
* ``synthetic`` — a seeded omnichannel generator with known identity truth;
* ``m5`` — M5 (Walmart) wide daily sales + calendar + prices, for forecasting benchmarks.
"""
