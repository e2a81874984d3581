"""Model review: runs from MLflow side by side, paired bootstrap evidence, reports."""
