"""The dashboard's pages, one module each. Streamlit runs each file as a script (``app``
registers them with ``st.Page``): importing one renders that page."""
