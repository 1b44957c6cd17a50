"""The annual audit of a unit (机构编制年度审计): its year on one report."""
