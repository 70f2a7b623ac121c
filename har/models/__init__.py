"""The five models (one file per paper) and the layers they share."""
