require ["variables", "fileinto"];
set :lowerfirst "a" "ABC";
set :upper "b" "straße";
fileinto "${a}";
fileinto "${b}";
