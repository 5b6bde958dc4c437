"""Sales and demand forecasting: pure pandas/numpy/statsmodels/scikit-learn code, no Dagster.

periods          series keys, 7-day periods anchored on the analysis date, the contracts
                 the modules share (daily sales in, forecast rows out)
daily_sales      the daily sales SQL on core.orders / core.order_items (DuckDB, PostgreSQL)
series           weekly series per level member and metric, small members in 'other'
holidays         holiday days and weeks from `analytics.holiday_windows`
models           seasonal naive, Holt-Winters ETS, global gradient boosting
candidates       every candidate model's forecast of every series from one origin
backtest         rolling-origin backtest, MASE / WAPE / coverage, per-series model choice
intervals        80 % / 95 % intervals from the backtest's scaled errors
reconcile        members add up to their parent (total; the 'store' channel for stores)
daily            weekly forecasts spread over days (day-of-week profile, holiday lifts)
plots            history, forecast and bands per level; backtest MASE per model
sales            `forecast_sales`: the one entry point of `ml.sales_forecast`
"""
