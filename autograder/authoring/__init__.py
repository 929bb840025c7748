"""For course authors: the student release, devcheck and the points table."""
