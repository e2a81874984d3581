"""Demand forecasting: one Forecaster interface over baselines, LightGBM, LSTM and TFT."""
