"""Pure analysis helpers for the dashboard pages: polars and numbers in, polars and numbers out.

No Streamlit and no simulation logic here: these are the analyst's tools (window totals,
mix-versus-rate decomposition, confidence intervals and power, PSI, latency percentiles).
"""
