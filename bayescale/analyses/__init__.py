"""Questions answered on fits: decisions, allocation, planning, backtests, calibration, model comparison."""
