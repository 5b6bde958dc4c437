"""Sales and demand forecasting: pure pandas/numpy/statsmodels/scikit-learn code, no Dagster.

periods          series keys, 7-day periods anchored on the analysis date, the contracts
                 the modules share (daily sales in, forecast rows out)
"""
