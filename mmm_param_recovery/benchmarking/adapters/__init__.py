"""One adapter module per library; only these modules import the libraries (lazily)."""
