# nothing at all
