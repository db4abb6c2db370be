"""Who may read or change a health space: the one authorization chokepoint, privacy settings,
care relationships, emergency access, relatives' delegated access and the access history."""
