"""The investigation dashboard: a Streamlit app of thin pages over sim/ (see dashboard/app.py)."""
