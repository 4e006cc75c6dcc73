"""lumisync: two-way data sync between an SMS subscriber platform and Luminate Online."""
