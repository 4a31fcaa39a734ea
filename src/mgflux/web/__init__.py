"""The local web page (mgflux serve) and its JSON API."""
