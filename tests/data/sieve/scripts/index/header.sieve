require ["index", "variables", "fileinto"];
if header :index 2 :matches "x-custom" "*" { fileinto "second-${1}"; }
if header :index 1 :last :matches "x-custom" "*" { fileinto "last-${1}"; }
if header :index 5 :matches "x-custom" "*" { fileinto "fifth"; }
if header :index 2 :last :contains "received" "b.example" { fileinto "second-last"; }
