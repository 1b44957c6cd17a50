"""Joint meetings (联席会议): departments deciding a region's findings together (API.md, "Joint
meetings and the annual audit")."""
