"""One module per on-disk format the pipeline reads or writes."""
