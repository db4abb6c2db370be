"""Scheduled work of the platform (space openings, purges, announcements), run by the server or
by ``carnet jobs run``."""
