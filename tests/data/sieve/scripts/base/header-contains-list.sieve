require "fileinto";
if header :contains ["subject", "from"] ["money", "carol", "Grüße"] { fileinto "hit"; }
