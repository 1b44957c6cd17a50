"""The public face (信息公开): published staffing disclosures as JSON and pages, no token."""
