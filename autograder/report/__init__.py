"""What people read: results.json, feedback, CSVs and the TAs' files, built from verdicts."""
