require ["fileinto"];
if header :contains ["subject"] ["deals"] { fileinto ["deals"]; }
