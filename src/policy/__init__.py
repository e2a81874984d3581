"""Inventory policy: from forecast quantiles to safety stock, reorder points and orders."""
