"""retail-brain library: features, forecasting, recommendations and inventory policy."""
