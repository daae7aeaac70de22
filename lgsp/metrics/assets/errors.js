(function(){
  var pending=[];
  function show(msg){
    var box=document.getElementById("render-errors");
    if(!box){pending.push(msg);return;}
    box.textContent+=(box.textContent?"\n":"")+msg;
  }
  window.lgspReportError=show;
  window.onerror=function(message,source,line,col,error){
    show("JavaScript error: "+message+(line?" (line "+line+":"+col+")":"")+
         (error&&error.stack?"\n"+error.stack:""));
  };
  window.addEventListener("unhandledrejection",function(e){show("Unhandled: "+e.reason);});
  document.addEventListener("DOMContentLoaded",function(){pending.splice(0).forEach(show);});
})();
