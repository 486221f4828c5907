"""Where a package goes: the agency directory (local, upstream, peer) and routing decisions."""
