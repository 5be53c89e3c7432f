"""The composition root: the CLI and everything that wires sim/ (the write side) to
readout/ and grading/ (the read side). Nothing else imports across both sides."""
