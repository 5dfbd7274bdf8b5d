"""Live monitoring (服务承诺实时监控): every 15 minutes, land what changed in each source, judge every open
node run as of now, and tell the responsible departments which runs exceed their commitment, exactly
once per alert and channel, through an outbox in the warehouse."""
