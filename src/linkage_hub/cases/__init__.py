"""12310 reports (举报受理): filed by the public, worked by the establishment office."""
