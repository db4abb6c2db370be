"""Web portals: the insured person's app, the professional portal and the back office (DSFR,
htmx, French and English), server-rendered on top of the domain services."""
