"""linkage-hub: the five-department staffing linkage hub (机构编制实名制联动管理)."""

__version__ = "0.1.0"
