"""`make bench`: every issue's performance targets, peers measured in the same run."""
