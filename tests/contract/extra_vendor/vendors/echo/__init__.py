"""Echo: the smallest vendor, kept in the test tree to show that a vendor is its folder."""
